//! Bodies captured from real kubectl 1.32 (`tests/data/capture.sh`): each `NAME.pb` must decode
//! to the JSON in `NAME.json`, which for `kubectl create` subcommands is kubectl's own
//! `--dry-run=client -o json` rendering of the same object.

use std::path::Path;

use serde_json::Value;

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name)
}

fn check(name: &str) {
    let body = std::fs::read(data(&format!("{name}.pb"))).expect("captured body");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(data(&format!("{name}.json"))).expect("expected JSON")).expect("JSON");
    let decoded = canopy_protobuf::decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded, expected, "{name}:\n{}", serde_json::to_string_pretty(&decoded).unwrap_or_default());
    // Key order too: upstream writes Go struct order.
    assert_eq!(decoded.to_string(), expected.to_string(), "{name}: key order");
}

macro_rules! captured {
    ($($test:ident => $name:literal),* $(,)?) => { $(#[test] fn $test() { check($name); })* };
}

captured! {
    namespace => "namespace",
    configmap => "configmap",
    secret => "secret",
    secret_docker_registry => "secret-docker",
    serviceaccount => "serviceaccount",
    deployment => "deployment",
    deployment_with_zero_replicas => "deployment-zero",
    service_clusterip => "service",
    service_nodeport => "service-nodeport",
    role => "role",
    rolebinding => "rolebinding",
    clusterrole => "clusterrole",
    clusterrolebinding => "clusterrolebinding",
    quota => "quota",
    priorityclass => "priorityclass",
    job => "job",
    cronjob => "cronjob",
    ingress => "ingress",
    poddisruptionbudget => "pdb",
    auth_can_i => "can-i",
    auth_can_i_subresource => "can-i-subresource",
    auth_whoami => "whoami",
    create_token => "token",
}
