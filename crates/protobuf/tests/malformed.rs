//! Untrusted input: malformed bodies return errors, never panic, and nesting is bounded.

mod common;

use canopy_protobuf::{DecodeError, MAX_DEPTH, WireError};
use common::envelope;
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as pb_crd;
use proptest::prelude::*;

fn captured(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read(path).expect("captured body")
}

#[test]
fn envelope_errors() {
    assert!(matches!(canopy_protobuf::decode(b""), Err(DecodeError::MissingMagic)));
    assert!(matches!(canopy_protobuf::decode(b"{\"kind\":\"Namespace\"}"), Err(DecodeError::MissingMagic)));
    assert!(matches!(canopy_protobuf::decode(b"k8s\0"), Err(DecodeError::MissingTypeMeta)));
    let unknown = envelope("example.com/v1", "Widget", &pb_crd::Json::default());
    assert!(
        matches!(canopy_protobuf::decode(&unknown), Err(DecodeError::UnknownKind { kind, .. }) if kind == "Widget")
    );
    // runtime.Unknown with contentEncoding "gzip" (field 3).
    let mut gzip = envelope("v1", "Namespace", &pb_crd::Json::default());
    gzip.extend_from_slice(b"\x1a\x04gzip");
    assert!(matches!(canopy_protobuf::decode(&gzip), Err(DecodeError::UnsupportedContentEncoding(e)) if e == "gzip"));
}

#[test]
fn wire_errors_name_the_message() {
    // Namespace field 1 (metadata) as a varint.
    let err = canopy_protobuf::decode_object("v1", "Namespace", &[0x08, 0x01]).expect_err("wrong wire type");
    assert!(matches!(err, DecodeError::WrongWireType { message: "k8s.io.api.core.v1.Namespace", tag: 1, .. }));
    // metadata claims 5 bytes but 1 follows.
    let err = canopy_protobuf::decode_object("v1", "Namespace", &[0x0a, 0x05, 0x0a]).expect_err("truncated");
    assert!(matches!(err, DecodeError::Wire { source: WireError::Truncated, .. }));
    // A group wire type.
    let err = canopy_protobuf::decode_object("v1", "Namespace", &[0x0b]).expect_err("group");
    assert!(matches!(err, DecodeError::Wire { source: WireError::UnsupportedWireType(3), .. }));
    // IntOrString with type 7.
    let port = [0x08, 0x07];
    let mut service_port = vec![0x22, port.len() as u8]; // ServicePort field 4 targetPort
    service_port.extend(port);
    let mut spec = vec![0x0a, service_port.len() as u8]; // ServiceSpec field 1 ports
    spec.extend(service_port);
    let mut service = vec![0x12, spec.len() as u8]; // Service field 2 spec
    service.extend(spec);
    let err = canopy_protobuf::decode_object("v1", "Service", &service).expect_err("bad IntOrString");
    assert!(matches!(err, DecodeError::InvalidValue { .. }), "{err}");
}

fn nested_schema(depth: usize) -> pb_crd::CustomResourceDefinition {
    let mut schema = pb_crd::JsonSchemaProps::default();
    for _ in 0..depth {
        schema = pb_crd::JsonSchemaProps { not: Some(Box::new(schema)), ..Default::default() };
    }
    pb_crd::CustomResourceDefinition {
        spec: Some(pb_crd::CustomResourceDefinitionSpec {
            versions: vec![pb_crd::CustomResourceDefinitionVersion {
                schema: Some(pb_crd::CustomResourceValidation { open_apiv3_schema: Some(schema) }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn nesting_is_bounded() {
    let shallow = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", &nested_schema(MAX_DEPTH - 10));
    canopy_protobuf::decode(&shallow).expect("within the bound");
    let deep = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", &nested_schema(MAX_DEPTH + 10));
    assert!(matches!(canopy_protobuf::decode(&deep), Err(DecodeError::TooDeep(MAX_DEPTH))));
    // Far deeper than the stack would allow, built by hand (prost would recurse to encode it):
    // JSONSchemaProps field 28 (not) nested 20_000 times inside a CRD's schema.
    let mut schema: Vec<u8> = Vec::new();
    for _ in 0..20_000 {
        let mut outer = vec![0xe2, 0x01]; // field 28, length-delimited
        prost::encoding::encode_varint(schema.len() as u64, &mut outer);
        outer.extend_from_slice(&schema);
        schema = outer;
    }
    let mut validation = vec![0x0a]; // CustomResourceValidation field 1
    prost::encoding::encode_varint(schema.len() as u64, &mut validation);
    validation.extend(schema);
    let mut version = vec![0x22]; // CustomResourceDefinitionVersion field 4 schema
    prost::encoding::encode_varint(validation.len() as u64, &mut version);
    version.extend(validation);
    let mut spec = vec![0x3a]; // CustomResourceDefinitionSpec field 7 versions
    prost::encoding::encode_varint(version.len() as u64, &mut spec);
    spec.extend(version);
    let mut crd = vec![0x12]; // CustomResourceDefinition field 2 spec
    prost::encoding::encode_varint(spec.len() as u64, &mut crd);
    crd.extend(spec);
    let result = canopy_protobuf::decode_object("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd);
    assert!(matches!(result, Err(DecodeError::TooDeep(MAX_DEPTH))));
}

#[test]
fn every_prefix_of_a_real_body_is_handled() {
    for name in ["deployment.pb", "token.pb", "secret.pb"] {
        let body = captured(name);
        for end in 0..body.len() {
            let _ = canopy_protobuf::decode(&body[..end]);
        }
    }
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    canopy_protobuf::supported_kinds().collect()
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = canopy_protobuf::decode(&body);
        let mut with_magic = canopy_protobuf::MAGIC.to_vec();
        with_magic.extend_from_slice(&body);
        let _ = canopy_protobuf::decode(&with_magic);
    }

    #[test]
    fn random_messages_of_every_kind_never_panic(
        index in any::<prop::sample::Index>(),
        raw in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let kinds = kinds();
        let (api_version, kind) = kinds[index.index(kinds.len())];
        let _ = canopy_protobuf::decode_object(api_version, kind, &raw);
    }

    #[test]
    fn mutated_real_bodies_never_panic(
        name in prop::sample::select(vec!["deployment.pb", "service.pb", "can-i.pb", "quota.pb", "ingress.pb"]),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = captured(name);
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let _ = canopy_protobuf::decode(&body);
    }
}
