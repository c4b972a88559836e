//! Round trips: objects built with k8s-pb's prost structs are encoded, wrapped in the envelope,
//! decoded, and compared with the same object built with k8s-openapi.

mod common;

use std::collections::BTreeMap;

use common::{round_trip, string};
use k8s_openapi::api::{apps::v1 as apps, authorization::v1 as authz, core::v1 as core};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::{ByteString, jiff::Timestamp};
use k8s_pb::api::{apps::v1 as pb_apps, authorization::v1 as pb_authz, core::v1 as pb_core};
use k8s_pb::apimachinery::pkg::api::resource::Quantity as PbQuantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString as PbIntOrString;

const CREATED: i64 = 1_700_000_000;

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), "web".to_string()), ("tier".to_string(), "front".to_string())])
}

fn pb_meta(name: &str, namespace: Option<&str>) -> Option<pb_meta::ObjectMeta> {
    Some(pb_meta::ObjectMeta {
        name: string(name),
        namespace: namespace.map(str::to_string),
        labels: labels(),
        creation_timestamp: Some(pb_meta::Time { seconds: Some(CREATED), nanos: Some(0) }),
        ..Default::default()
    })
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: string(name),
        namespace: namespace.map(str::to_string),
        labels: Some(labels()),
        creation_timestamp: Some(Time(Timestamp::from_second(CREATED).expect("valid time"))),
        ..Default::default()
    }
}

#[test]
fn namespace() {
    let pb = pb_core::Namespace {
        metadata: pb_meta("demo", None),
        spec: Some(pb_core::NamespaceSpec { finalizers: vec!["kubernetes".into()] }),
        status: None,
    };
    let expected = core::Namespace {
        metadata: meta("demo", None),
        spec: Some(core::NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) }),
        status: None,
    };
    let json = round_trip(&pb, &expected);
    assert_eq!(json["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
}

#[test]
fn configmap() {
    let pb = pb_core::ConfigMap {
        metadata: pb_meta("settings", Some("team")),
        immutable: Some(true),
        data: BTreeMap::from([("mode".into(), "fast".into()), ("empty".into(), String::new())]),
        binary_data: BTreeMap::from([("blob".into(), vec![0, 1, 2, 255])]),
    };
    let expected = core::ConfigMap {
        metadata: meta("settings", Some("team")),
        immutable: Some(true),
        data: Some(BTreeMap::from([("mode".into(), "fast".into()), ("empty".into(), String::new())])),
        binary_data: Some(BTreeMap::from([("blob".into(), ByteString(vec![0, 1, 2, 255]))])),
    };
    let json = round_trip(&pb, &expected);
    assert_eq!(json["binaryData"]["blob"], "AAEC/w==");
}

#[test]
fn secret_with_bytes() {
    let pb = pb_core::Secret {
        metadata: pb_meta("creds", Some("team")),
        data: BTreeMap::from([("password".into(), b"s3cr3t\n".to_vec()), ("empty".into(), Vec::new())]),
        string_data: BTreeMap::from([("user".into(), "admin".into())]),
        r#type: string("Opaque"),
        immutable: None,
    };
    let expected = core::Secret {
        metadata: meta("creds", Some("team")),
        data: Some(BTreeMap::from([
            ("password".into(), ByteString(b"s3cr3t\n".to_vec())),
            ("empty".into(), ByteString(Vec::new())),
        ])),
        string_data: Some(BTreeMap::from([("user".into(), "admin".into())])),
        type_: string("Opaque"),
        immutable: None,
    };
    let json = round_trip(&pb, &expected);
    assert_eq!(json["data"]["password"], "czNjcjN0Cg==");
}

fn pb_container() -> pb_core::Container {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), PbQuantity { string: string(cpu) }),
            ("memory".to_string(), PbQuantity { string: string(memory) }),
        ])
    };
    pb_core::Container {
        name: string("web"),
        image: string("nginx:1.27"),
        args: vec!["--port".into(), "8080".into()],
        ports: vec![pb_core::ContainerPort {
            name: string("http"),
            container_port: Some(8080),
            protocol: string("TCP"),
            ..Default::default()
        }],
        env: vec![
            pb_core::EnvVar { name: string("MODE"), value: string("fast"), value_from: None },
            pb_core::EnvVar {
                name: string("POD_IP"),
                value: None,
                value_from: Some(pb_core::EnvVarSource {
                    field_ref: Some(pb_core::ObjectFieldSelector {
                        api_version: string("v1"),
                        field_path: string("status.podIP"),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(pb_core::ResourceRequirements {
            limits: quantities("500m", "256Mi"),
            requests: quantities("100m", "64Mi"),
            claims: Vec::new(),
        }),
        readiness_probe: Some(pb_core::Probe {
            handler: Some(pb_core::ProbeHandler {
                http_get: Some(pb_core::HttpGetAction {
                    path: string("/healthz"),
                    port: Some(PbIntOrString { r#type: Some(1), int_val: None, str_val: string("http") }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        }),
        security_context: Some(pb_core::SecurityContext {
            run_as_user: Some(0),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container() -> core::Container {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([("cpu".to_string(), Quantity(cpu.into())), ("memory".to_string(), Quantity(memory.into()))])
    };
    core::Container {
        name: "web".into(),
        image: string("nginx:1.27"),
        args: Some(vec!["--port".into(), "8080".into()]),
        ports: Some(vec![core::ContainerPort {
            name: string("http"),
            container_port: 8080,
            protocol: string("TCP"),
            ..Default::default()
        }]),
        env: Some(vec![
            core::EnvVar { name: "MODE".into(), value: string("fast"), value_from: None },
            core::EnvVar {
                name: "POD_IP".into(),
                value: None,
                value_from: Some(core::EnvVarSource {
                    field_ref: Some(core::ObjectFieldSelector {
                        api_version: string("v1"),
                        field_path: "status.podIP".into(),
                    }),
                    ..Default::default()
                }),
            },
        ]),
        resources: Some(core::ResourceRequirements {
            limits: Some(quantities("500m", "256Mi")),
            requests: Some(quantities("100m", "64Mi")),
            claims: None,
        }),
        readiness_probe: Some(core::Probe {
            http_get: Some(core::HTTPGetAction {
                path: string("/healthz"),
                port: IntOrString::String("http".into()),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        }),
        security_context: Some(core::SecurityContext {
            run_as_user: Some(0),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn deployment_with_pod_template() {
    let selector = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let pb = pb_apps::Deployment {
        metadata: pb_meta("web", Some("team")),
        spec: Some(pb_apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(pb_meta::LabelSelector { match_labels: selector.clone(), match_expressions: Vec::new() }),
            template: Some(pb_core::PodTemplateSpec {
                metadata: Some(pb_meta::ObjectMeta { labels: selector.clone(), ..Default::default() }),
                spec: Some(pb_core::PodSpec {
                    containers: vec![pb_container()],
                    volumes: vec![pb_core::Volume {
                        name: string("cache"),
                        volume_source: Some(pb_core::VolumeSource {
                            empty_dir: Some(pb_core::EmptyDirVolumeSource {
                                medium: None,
                                size_limit: Some(PbQuantity { string: string("1Gi") }),
                            }),
                            ..Default::default()
                        }),
                    }],
                    host_network: Some(true),
                    security_context: Some(pb_core::PodSecurityContext {
                        supplemental_groups: vec![1000, 2000],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let expected = apps::Deployment {
        metadata: meta("web", Some("team")),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: LabelSelector { match_labels: Some(selector.clone()), match_expressions: None },
            template: core::PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(selector), ..Default::default() }),
                spec: Some(core::PodSpec {
                    containers: vec![container()],
                    volumes: Some(vec![core::Volume {
                        name: "cache".into(),
                        empty_dir: Some(core::EmptyDirVolumeSource {
                            medium: None,
                            size_limit: Some(Quantity("1Gi".into())),
                        }),
                        ..Default::default()
                    }]),
                    host_network: Some(true),
                    security_context: Some(core::PodSecurityContext {
                        supplemental_groups: Some(vec![1000, 2000]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    };
    let json = round_trip(&pb, &expected);
    assert_eq!(json["spec"]["replicas"], 0, "a pointer field keeps its explicit zero");
    assert_eq!(json["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"], "1Gi");
}

#[test]
fn service_with_target_ports() {
    let port = |name: &str, port: i32, target: PbIntOrString| pb_core::ServicePort {
        name: string(name),
        protocol: string("TCP"),
        port: Some(port),
        target_port: Some(target),
        ..Default::default()
    };
    let pb = pb_core::Service {
        metadata: pb_meta("web", Some("team")),
        spec: Some(pb_core::ServiceSpec {
            ports: vec![
                port("http", 80, PbIntOrString { r#type: Some(0), int_val: Some(8080), str_val: None }),
                port("https", 443, PbIntOrString { r#type: Some(1), int_val: None, str_val: string("https") }),
            ],
            selector: BTreeMap::from([("app".into(), "web".into())]),
            cluster_ip: string("10.0.0.10"),
            r#type: string("ClusterIP"),
            ..Default::default()
        }),
        status: None,
    };
    let svc_port = |name: &str, port: i32, target: IntOrString| core::ServicePort {
        name: string(name),
        protocol: string("TCP"),
        port,
        target_port: Some(target),
        ..Default::default()
    };
    let expected = core::Service {
        metadata: meta("web", Some("team")),
        spec: Some(core::ServiceSpec {
            ports: Some(vec![
                svc_port("http", 80, IntOrString::Int(8080)),
                svc_port("https", 443, IntOrString::String("https".into())),
            ]),
            selector: Some(BTreeMap::from([("app".into(), "web".into())])),
            cluster_ip: string("10.0.0.10"),
            type_: string("ClusterIP"),
            ..Default::default()
        }),
        status: None,
    };
    let json = round_trip(&pb, &expected);
    assert_eq!(json["spec"]["clusterIP"], "10.0.0.10");
}

#[test]
fn self_subject_access_review() {
    let pb = pb_authz::SelfSubjectAccessReview {
        metadata: Some(pb_meta::ObjectMeta::default()),
        spec: Some(pb_authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(pb_authz::ResourceAttributes {
                namespace: string("team"),
                verb: string("create"),
                group: string("apps"),
                resource: string("deployments"),
                subresource: string("scale"),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(pb_authz::SubjectAccessReviewStatus { allowed: Some(false), ..Default::default() }),
    };
    let expected = authz::SelfSubjectAccessReview {
        metadata: ObjectMeta::default(),
        spec: authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: string("team"),
                verb: string("create"),
                group: string("apps"),
                resource: string("deployments"),
                subresource: string("scale"),
                ..Default::default()
            }),
            non_resource_attributes: None,
        },
        status: Some(authz::SubjectAccessReviewStatus { allowed: false, ..Default::default() }),
    };
    round_trip(&pb, &expected);
}
