//! Specially marshalled types and protobuf corner cases, each compared with the JSON upstream
//! writes: MicroTime, Time precision and zero, RawExtension, FieldsV1, CRD schemas (the
//! JSONSchemaPropsOr* unions, embedded JSON, doubles), ExtraValue maps, inlined structs,
//! unknown fields, merged and packed fields.

mod common;

use std::collections::BTreeMap;

use common::{envelope, round_trip, string};
use k8s_pb::api::{
    apps::v1 as pb_apps, authorization::v1 as pb_authz, coordination::v1 as pb_coord, core::v1 as pb_core,
};
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as pb_crd;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use k8s_pb::apimachinery::pkg::runtime::RawExtension;
use prost::Message;
use serde_json::json;

fn decode(api_version: &str, kind: &str, message: &impl Message) -> serde_json::Value {
    canopy_protobuf::decode(&envelope(api_version, kind, message)).expect("decodes")
}

#[test]
fn lease_micro_time_and_time_precision() {
    let micro = |seconds, nanos| Some(pb_meta::MicroTime { seconds: Some(seconds), nanos: Some(nanos) });
    let lease = pb_coord::Lease {
        metadata: Some(pb_meta::ObjectMeta {
            name: string("leader"),
            // Time keeps whole seconds in JSON, like Go's RFC 3339 formatting.
            creation_timestamp: Some(pb_meta::Time { seconds: Some(1_700_000_000), nanos: Some(999_999_999) }),
            ..Default::default()
        }),
        spec: Some(pb_coord::LeaseSpec {
            holder_identity: string("node-1"),
            lease_duration_seconds: Some(15),
            acquire_time: micro(1_700_000_000, 123_456_789),
            renew_time: micro(0, 0),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    assert_eq!(
        decode("coordination.k8s.io/v1", "Lease", &lease),
        json!({
            "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": "leader", "creationTimestamp": "2023-11-14T22:13:20Z"},
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 15,
                "acquireTime": "2023-11-14T22:13:20.123456Z",
                "renewTime": "1970-01-01T00:00:00.000000Z",
                "leaseTransitions": 0
            }
        })
    );
}

#[test]
fn zero_time_is_null_and_pre_epoch_times_format() {
    let namespace = |time: Option<pb_meta::Time>| pb_core::Namespace {
        metadata: Some(pb_meta::ObjectMeta { creation_timestamp: time, ..Default::default() }),
        ..Default::default()
    };
    // Go encodes the zero time as an empty message.
    let empty = decode("v1", "Namespace", &namespace(Some(pb_meta::Time::default())));
    assert_eq!(empty["metadata"], json!({"creationTimestamp": null}));
    let go_zero = Some(pb_meta::Time { seconds: Some(-62_135_596_800), nanos: Some(0) });
    assert_eq!(decode("v1", "Namespace", &namespace(go_zero))["metadata"], json!({"creationTimestamp": null}));
    let before = Some(pb_meta::Time { seconds: Some(-1), nanos: None });
    assert_eq!(decode("v1", "Namespace", &namespace(before))["metadata"]["creationTimestamp"], "1969-12-31T23:59:59Z");
    let far = Some(pb_meta::Time { seconds: Some(253_402_300_800), nanos: None }); // year 10000
    let body = envelope("v1", "Namespace", &namespace(far));
    assert!(matches!(canopy_protobuf::decode(&body), Err(canopy_protobuf::DecodeError::InvalidValue { .. })));
}

#[test]
fn controller_revision_raw_extension_and_managed_fields() {
    let revision = pb_apps::ControllerRevision {
        metadata: Some(pb_meta::ObjectMeta {
            name: string("web-1"),
            managed_fields: vec![pb_meta::ManagedFieldsEntry {
                manager: string("kubectl"),
                operation: string("Update"),
                api_version: string("apps/v1"),
                fields_type: string("FieldsV1"),
                fields_v1: Some(pb_meta::FieldsV1 { raw: Some(br#"{"f:data":{}}"#.to_vec()) }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        data: Some(RawExtension { raw: Some(br#"{"spec":{"template":{"$patch":"replace"}}}"#.to_vec()) }),
        revision: Some(1),
    };
    assert_eq!(
        decode("apps/v1", "ControllerRevision", &revision),
        json!({
            "kind": "ControllerRevision", "apiVersion": "apps/v1",
            "metadata": {
                "name": "web-1",
                "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}
                }]
            },
            "data": {"spec": {"template": {"$patch": "replace"}}},
            "revision": 1
        })
    );
    let broken = pb_apps::ControllerRevision { data: Some(RawExtension { raw: Some(b"{nope".to_vec()) }), ..revision };
    let body = envelope("apps/v1", "ControllerRevision", &broken);
    assert!(matches!(canopy_protobuf::decode(&body), Err(canopy_protobuf::DecodeError::EmbeddedJson { .. })));
}

#[test]
fn raw_extension_may_hold_a_nested_protobuf_object() {
    let inner = pb_core::ConfigMap {
        metadata: Some(pb_meta::ObjectMeta { name: string("inner"), ..Default::default() }),
        ..Default::default()
    };
    let revision = pb_apps::ControllerRevision {
        data: Some(RawExtension { raw: Some(envelope("v1", "ConfigMap", &inner)) }),
        ..Default::default()
    };
    assert_eq!(
        decode("apps/v1", "ControllerRevision", &revision)["data"],
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "inner"}})
    );
}

fn schema(ty: &str) -> pb_crd::JsonSchemaProps {
    pb_crd::JsonSchemaProps { r#type: string(ty), ..Default::default() }
}

#[test]
fn custom_resource_definition_schema() {
    let json_value = |v: &str| pb_crd::Json { raw: Some(v.as_bytes().to_vec()) };
    let replicas = pb_crd::JsonSchemaProps {
        minimum: Some(0.0),
        maximum: Some(2.5),
        default: Some(json_value("1")),
        ..schema("integer")
    };
    let mode =
        pb_crd::JsonSchemaProps { r#enum: vec![json_value("\"fast\""), json_value("\"slow\"")], ..schema("string") };
    let tags = pb_crd::JsonSchemaProps {
        items: Some(Box::new(pb_crd::JsonSchemaPropsOrArray {
            schema: Some(Box::new(schema("string"))),
            j_son_schemas: vec![],
        })),
        x_kubernetes_list_type: string("set"),
        ..schema("array")
    };
    let labels = pb_crd::JsonSchemaProps {
        additional_properties: Some(Box::new(pb_crd::JsonSchemaPropsOrBool {
            allows: Some(true),
            schema: Some(Box::new(schema("string"))),
        })),
        ..schema("object")
    };
    let closed = pb_crd::JsonSchemaProps {
        additional_properties: Some(Box::new(pb_crd::JsonSchemaPropsOrBool { allows: Some(false), schema: None })),
        dependencies: BTreeMap::from([(
            "a".to_string(),
            pb_crd::JsonSchemaPropsOrStringArray { schema: None, property: vec!["b".into(), "c".into()] },
        )]),
        ..schema("object")
    };
    let spec = pb_crd::JsonSchemaProps {
        properties: BTreeMap::from([
            ("replicas".to_string(), replicas),
            ("mode".to_string(), mode),
            ("tags".to_string(), tags),
            ("labels".to_string(), labels),
            ("closed".to_string(), closed),
        ]),
        required: vec!["replicas".into()],
        x_kubernetes_preserve_unknown_fields: Some(false),
        ..schema("object")
    };
    let crd = pb_crd::CustomResourceDefinition {
        metadata: Some(pb_meta::ObjectMeta { name: string("widgets.example.com"), ..Default::default() }),
        spec: Some(pb_crd::CustomResourceDefinitionSpec {
            group: string("example.com"),
            names: Some(pb_crd::CustomResourceDefinitionNames {
                plural: string("widgets"),
                kind: string("Widget"),
                ..Default::default()
            }),
            scope: string("Namespaced"),
            versions: vec![pb_crd::CustomResourceDefinitionVersion {
                name: string("v1"),
                served: Some(true),
                storage: Some(true),
                schema: Some(pb_crd::CustomResourceValidation { open_apiv3_schema: Some(spec) }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd);
    assert_eq!(
        decoded["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({
            "type": "object",
            "required": ["replicas"],
            "properties": {
                "closed": {"type": "object", "additionalProperties": false, "dependencies": {"a": ["b", "c"]}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "replicas": {"type": "integer", "default": 1, "maximum": 2.5, "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
            },
            "x-kubernetes-preserve-unknown-fields": false
        })
    );
    // And the whole object is a valid k8s-openapi CustomResourceDefinition.
    let typed: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_json::from_value(decoded).expect("a CustomResourceDefinition");
    assert_eq!(typed.spec.names.kind, "Widget");
}

#[test]
fn subject_access_review_extra_values_are_string_lists() {
    let review = pb_authz::SubjectAccessReview {
        metadata: Some(pb_meta::ObjectMeta::default()),
        spec: Some(pb_authz::SubjectAccessReviewSpec {
            user: string("alice"),
            groups: vec!["dev".into()],
            extra: BTreeMap::from([(
                "scopes".to_string(),
                pb_authz::ExtraValue { items: vec!["a".into(), "b".into()] },
            )]),
            non_resource_attributes: Some(pb_authz::NonResourceAttributes {
                path: string("/healthz"),
                verb: string("get"),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let expected = k8s_openapi::api::authorization::v1::SubjectAccessReview {
        spec: k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec {
            user: string("alice"),
            groups: Some(vec!["dev".into()]),
            extra: Some(BTreeMap::from([("scopes".to_string(), vec!["a".into(), "b".into()])])),
            non_resource_attributes: Some(k8s_openapi::api::authorization::v1::NonResourceAttributes {
                path: string("/healthz"),
                verb: string("get"),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    round_trip(&review, &expected);
}

#[test]
fn inlined_structs_merge_into_their_parent() {
    let pod = pb_core::Pod {
        spec: Some(pb_core::PodSpec {
            containers: vec![pb_core::Container {
                name: string("app"),
                env_from: vec![pb_core::EnvFromSource {
                    config_map_ref: Some(pb_core::ConfigMapEnvSource {
                        local_object_reference: Some(pb_core::LocalObjectReference { name: string("settings") }),
                        optional: Some(true),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            volumes: vec![pb_core::Volume {
                name: string("config"),
                volume_source: Some(pb_core::VolumeSource {
                    config_map: Some(pb_core::ConfigMapVolumeSource {
                        local_object_reference: Some(pb_core::LocalObjectReference { name: string("settings") }),
                        default_mode: Some(0o644),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let spec = &decode("v1", "Pod", &pod)["spec"];
    assert_eq!(spec["containers"][0]["envFrom"][0], json!({"configMapRef": {"name": "settings", "optional": true}}));
    assert_eq!(spec["volumes"][0], json!({"name": "config", "configMap": {"name": "settings", "defaultMode": 420}}));
}

#[test]
fn go_zero_values_of_non_pointer_fields_are_dropped_but_pointer_zeros_kept() {
    // What gogo-protobuf writes for a Go struct: every non-pointer field, zero or not.
    let pod = pb_core::Pod {
        metadata: Some(pb_meta::ObjectMeta {
            name: string("p"),
            generate_name: string(""),
            namespace: string(""),
            uid: string(""),
            generation: Some(0),
            ..Default::default()
        }),
        spec: Some(pb_core::PodSpec {
            restart_policy: string(""),
            host_network: Some(false),
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            priority: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let decoded = decode("v1", "Pod", &pod);
    assert_eq!(decoded["metadata"], json!({"name": "p"}));
    assert_eq!(
        decoded["spec"],
        json!({"terminationGracePeriodSeconds": 0, "automountServiceAccountToken": false, "priority": 0})
    );
}

/// Appends raw protobuf fields to an encoded message.
fn with_extra(mut encoded: Vec<u8>, extra: &[u8]) -> Vec<u8> {
    encoded.extend_from_slice(extra);
    encoded
}

#[test]
fn unknown_fields_are_skipped_and_repeated_messages_merged() {
    let namespace = pb_core::Namespace {
        metadata: Some(pb_meta::ObjectMeta { name: string("a"), ..Default::default() }),
        ..Default::default()
    };
    let extra = [
        0xc8, 0x3e, 0x07, // field 1001 varint 7
        0xd1, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8, // field 1002 fixed64
        0xdd, 0x3e, 1, 2, 3, 4, // field 1003 fixed32
        0xe2, 0x3e, 0x02, 0xff, 0xff, // field 1004 length-delimited
        // a second metadata occurrence: merged, so the name stays and labels join it
        0x0a, 0x0a, 0x5a, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, b'v', b'a', b'l',
    ];
    let raw = with_extra(namespace.encode_to_vec(), &extra);
    assert_eq!(
        canopy_protobuf::decode_object("v1", "Namespace", &raw).expect("decodes"),
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "a", "labels": {"k": "val"}}})
    );
}

#[test]
fn packed_and_unpacked_repeated_integers_and_negative_int32() {
    let context = pb_core::PodSecurityContext { supplemental_groups: vec![1, 300], ..Default::default() };
    let unpacked = context.encode_to_vec(); // k8s-pb uses packed = "false"
    assert_eq!(unpacked, [0x20, 0x01, 0x20, 0xac, 0x02]);
    let packed = [0x22, 0x03, 0x01, 0xac, 0x02];
    for spec in [unpacked.as_slice(), packed.as_slice()] {
        let mut pod_spec = vec![0x72, spec.len() as u8]; // PodSpec field 14 securityContext
        pod_spec.extend_from_slice(spec);
        let mut pod = vec![0x12, pod_spec.len() as u8]; // Pod field 2 spec
        pod.extend(pod_spec);
        let decoded = canopy_protobuf::decode_object("v1", "Pod", &pod).expect("decodes");
        assert_eq!(decoded["spec"]["securityContext"]["supplementalGroups"], json!([1, 300]));
    }
    let pod = pb_core::Pod {
        spec: Some(pb_core::PodSpec { priority: Some(-5), ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(decode("v1", "Pod", &pod)["spec"]["priority"], -5);
}
